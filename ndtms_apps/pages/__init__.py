"""The pages people use, served by the journey service (entry points: above every service).

`dashboard`: the operations page `/ops` (stream health, the indicator, the review queue);
`review`: the probable-match review desk (also `ndtms matches`); `rules_document`: the rule
catalogue as docs/validation-rules.md and the rules' descriptions the page shows.
"""

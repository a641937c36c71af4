"""The NDTMS validation rules: pure functions of plain data, shared by the stages that check.

The validator checks each update against the catalogue (`catalogue`, a module per rule
family); the linker, keyed by person, runs the checks across one person's episodes
(`person`, `cross_episode`). `ndtms rules` renders the catalogue as docs/validation-rules.md.
"""

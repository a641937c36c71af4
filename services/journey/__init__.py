"""Journey: each person's treatment journeys, kept current in a relational store and published."""

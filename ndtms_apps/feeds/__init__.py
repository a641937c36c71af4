"""Made-up feeds for the demo, the end-to-end tests and the benchmarks (an entry point: they
build whole journeys with the services' own rules). No real person's data, ever."""

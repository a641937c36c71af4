"""What every HTTP API of the platform shares: API keys, problem details, and how a server is run."""

"""The stream core every stateful stage runs on: transactions, state, serving."""

"""Validator: checks every episode update against the NDTMS rule catalogue and keeps bad data out."""

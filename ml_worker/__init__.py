"""Django-free ML worker: spine levels, body composition, synthetic CT data."""

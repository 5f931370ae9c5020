"""Curve fitting: functional forms, the fitting routines, and the task scaling-law estimators."""

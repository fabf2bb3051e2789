"""Helpers shared by the layers: config reading, state-dict checks, atomic files, relative errors, timing."""

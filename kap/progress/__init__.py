"""Progress: a person's trends over time, the summary they bring to therapy, and blank sheets."""

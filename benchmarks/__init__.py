"""Side-by-side speed comparisons with the libraries users would otherwise pick."""

"""Analysis after a solve: the security of the restaking graph, and more to come."""

"""The production deployment: its processes (topology), running them on one machine (supervisor), and the code
locations of a split deployment (locations)."""

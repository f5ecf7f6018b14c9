"""Lambda entry points, one module per action, grouped by resource. Each is a few lines around one service call."""

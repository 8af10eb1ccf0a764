"""Running an audit: its config, the step graph, the content-addressed store,
executors (local, Ray), attempt logs and status.
"""

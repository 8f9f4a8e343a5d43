"""Adapters: the command line, the pygeoapi configuration and plugins, the web map.

Nothing imports ``api``.
"""

"""Waymark registry: organisations, their services, the taxonomy and the programme countries."""

EVENT_SOURCE = "/waymark/registry"

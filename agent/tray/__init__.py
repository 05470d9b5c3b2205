"""The tray: a pure menu model and icon built from the agent's snapshot, and the pystray glue.

``menu_model`` and ``icon`` never touch a display, so they are unit-tested without one;
``app`` imports pystray lazily (it cannot be imported without a display on Linux).
"""

"""ActivityWatch as a partner: import its history, read it live, show our labels in it.

``events`` holds what an ActivityWatch event means to taskclf (one function from the window,
AFK and input events around an instant to the ``Sample`` a tick sees), shared by the live
backend (``agent.sampler._activitywatch``) and the import (``replay``), so both aggregate the
same events into the same records. ``source`` reads an ``/api/0/export`` file (streamed) or a
loopback server; ``importer`` stores the records; ``exporter`` writes our labels back.
"""

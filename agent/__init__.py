"""taskclf agent: the tray process (samplers, buckets, the store's writer, online loop, tray)."""

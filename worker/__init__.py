"""The Cloudflare Worker: HTTP handling and effects around `shared_routing`."""

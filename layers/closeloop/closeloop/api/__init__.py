"""HTTP routes as Powertools Routers, kept with the domain; each function includes the ones it serves."""

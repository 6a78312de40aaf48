"""Domain-free kit shared by every Dunning service. It never imports a service."""

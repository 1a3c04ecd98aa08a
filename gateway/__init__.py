"""The API gateway: authenticates, stamps request ids, and forwards /api/... to the services."""

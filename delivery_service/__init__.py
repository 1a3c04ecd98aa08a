"""The delivery service: deliveries of confirmed orders and the history of their statuses."""

"""Takes delivery bookings and runs the book-delivery saga."""

"""Takes orders and runs the place-order saga."""

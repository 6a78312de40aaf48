"""Collections with people in the loop: promises to pay, payment plans, customer disputes,
settlements, write-off reasons, notes and tasks (ADR 0009)."""

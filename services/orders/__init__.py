"""The point-of-sale orders service: OrderConfirmed fans out to inventory, loyalty, receipts."""

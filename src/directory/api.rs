//! Provider and payer DTOs.

"""Federation: the catalogue of AI Factories and Antennas, capacity, referral and placement."""

"""Edge-SD-SR networks: LR encoder, UNet, HR encoder and decoder (no schedule math)."""

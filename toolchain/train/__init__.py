"""Training: a recipe of stages (autoencoder, joint, decoder), resumable in chunks."""

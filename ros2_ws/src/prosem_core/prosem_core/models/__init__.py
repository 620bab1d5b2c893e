"""Models: vision encoders (edge), answerers (cloud), text embeddings, real-VLM backends."""

"""Real-time serving of the governed champion (`mlgov serve`): the HTTP app, its input contract, the
version watch, the inference log into `serving/requests`, and served windows turned into batches."""

"""Mining: event keys, control flow, data flow, the predictor and its held-out evaluation."""

"""The feature pipeline: one implementation for edge inference and hub datasets.

Both sides call the same functions on the same stored rows, so a model trained on
the hub sees bit-identical float32 inputs on an agent. Each feature group has a spec
(names in order, window, version) whose hash a model manifest carries; an agent
refuses a model whose feature hash it does not know.

Only the news sentiment group lives here so far (:mod:`shared.features.sentiment`);
the market features (candles, order-book state) join it in the model issue, and the
model's input is then the concatenation of the groups in a fixed order.
"""

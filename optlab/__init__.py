"""optlab：从零实现的 torch.optim，可直接 ``import optlab as optim`` 使用。"""

"""The pretrained zoo: recipes, builds and checks of the models shipped in pretrained/."""

"""Models: the frozen configs, shared backbones, the family registry and checkpoint folders."""
# each family module registers itself on import; importing them here completes MODELS
# before any aeviz.models module (config included) is used
from aeviz.models import families  # noqa: F401  ae, dae, sae, vae
from aeviz.models import linear  # noqa: F401  pca
from aeviz.models import contractive  # noqa: F401  cae
from aeviz.models import adversarial  # noqa: F401  aae

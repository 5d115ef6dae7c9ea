"""Reusable building blocks (ConvBlock, attention plug-ins, DropBlock, DBPF, CaFF, gates,
CE-Net context blocks, skip fusions, sampling steps, the pooling context)."""

from vesselseg.models.layers.attention import ATTENTION, get_attention, make_attention
from vesselseg.models.layers.caff import CaFF, attention_term_ratios
from vesselseg.models.layers.context import DAC, RMP
from vesselseg.models.layers.conv_block import ConvBlock
from vesselseg.models.layers.dbpf import DBPF
from vesselseg.models.layers.dropblock import DropBlock2d
from vesselseg.models.layers.fusion import FUSIONS, make_fusion
from vesselseg.models.layers.gates import AttentionGate
from vesselseg.models.layers.pooling_context import ContextPooling, set_input_stride, set_pooling_context
from vesselseg.models.layers.sampling import DOWN, UP, make_down, make_up

__all__ = [
    "ATTENTION", "DAC", "DBPF", "DOWN", "FUSIONS", "RMP", "UP", "AttentionGate", "CaFF",
    "ContextPooling", "ConvBlock", "DropBlock2d", "attention_term_ratios", "get_attention",
    "make_attention", "make_down", "make_fusion", "make_up", "set_input_stride",
    "set_pooling_context",
]

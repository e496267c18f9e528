"""Evaluation metrics: COCO-style AP and AR for boxes and masks (``pip install "tfzoo[coco]"``)."""

from tfzoo.evaluation.coco import (
    coco_evaluate,
    to_coco_detections,
    to_coco_ground_truth,
    to_coco_results,
)

__all__ = ["coco_evaluate", "to_coco_detections", "to_coco_ground_truth", "to_coco_results"]

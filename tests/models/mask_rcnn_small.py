"""Head sizes of the tiny Mask R-CNN the tests build (shared with the backend worker)."""

SMALL = dict(
    pre_nms_top_k=200,
    post_nms_top_k=32,
    inference_post_nms_top_k=20,
    rpn_samples=64,
    num_rois=16,
    num_mask_rois=4,
    fc_units=32,
    mask_filters=16,
    mask_convs=1,
    max_detections=5,
)

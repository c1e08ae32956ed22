"""Explanation parity across runtimes (PyTorch, SavedModel, int8 TFLite): ``python -m explain``.

Every explainer answers ``attribute(uint8 pixels, target=None) -> Attribution`` (attribution):
torch_gradcam (Captum LayerGradCam), savedmodel_gradcam (tf.GradientTape), tflite_cam (exact CAM on a
float or int8 TFLite model, occlusion for other heads). export_explainers loads them for an export
directory; parity explains images in all of them and compares the maps (metrics); synthetic_split
does it on the model's synthetic test split; render and outputs draw and write the report; cli is
the command line.
"""

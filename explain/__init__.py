"""Grad-CAM parity across runtimes (PyTorch, SavedModel, int8 TFLite): ``python -m explain.gradcam``.

torch_gradcam (Captum + the shared upsampling), tflite_cam (gradient-free CAM on TFLite, occlusion
fallback), savedmodel_gradcam (tf.GradientTape), metrics, inputs (files, head boxes), render (PNGs),
gradcam (library + CLI), synthetic_bench (the synthetic test split benchmark).
"""

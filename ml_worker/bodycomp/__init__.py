"""Body composition at chosen spine levels: segmentation (rule-based and a
trainable network behind one `Segmenter` interface), measurements with a
status per row, published cut-offs, DICOM SEG and SR, and the job behind the
`measure_body_composition` task. Modules:

- `tissues`: the four tissues, HU windows, `TissueMasks`
- `segmenter`: the `Segmenter` protocol; `factory`: pick one by method
- `threshold` (+ `morphology`): HU windows inside compartments, no weights
- `network`, `data`, `train`, `evaluate`, `model_store`: the MONAI U-Net
- `slices`: HU in standard orientation and back to the stored grid
- `measure`, `cutoffs`: areas, density, SMI, statuses, sarcopenia flags
- `codec`: compact masks for the job result
- `dicom_seg`, `dicom_sr`: the DICOM outputs
- `pipeline`: the pure pipeline and the result schema "body-composition/1"
- `job`: task parameters, fetching slices, storing SEG and SR
"""

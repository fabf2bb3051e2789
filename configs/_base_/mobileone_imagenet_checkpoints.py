# mmpretrain's MobileOne ImageNet-1k checkpoints (mmpretrain's configs/mobileone/metafile.yml), by arch: the task
# configs inherit this file and start their backbones from them, e.g.
#   init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.')
imagenet_checkpoints = dict(
    s0='https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s0_8xb32_in1k_20221110-0bc94952.pth',
    s1='https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s1_8xb32_in1k_20221110-ceeef467.pth',
    s2='https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s2_8xb32_in1k_20221110-9c7ecb97.pth',
    s3='https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s3_8xb32_in1k_20221110-c95eb3bf.pth',
    s4='https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s4_8xb32_in1k_20221110-28d888cb.pth',
)

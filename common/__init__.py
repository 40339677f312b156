"""Code shared by the voxclone services: DSP, text, wire format, settings, errors."""

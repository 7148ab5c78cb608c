# Loop core declarations (Handle, TimerHandle, _LoopCore).

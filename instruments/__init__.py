"""How to talk to hardware: driver interfaces, real drivers, the simulator and bench configuration."""

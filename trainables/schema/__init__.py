"""The typed schema of the science core: run and generation configs (one strict base), dotted overrides,
value ranges, name registries, the epoch record and the keys a trial carries. The bottom layer: it imports
no other package of the core (registries are found by import path, ``registry.registry``).
"""

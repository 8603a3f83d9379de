"""A lab's data on this host: where it lives (`lab_data`), its declared source files imported, fetched and checked
(`sources`), the visible and hidden splits made from them (`prepare`), the files and offline loaders a job is served
(`serve`), an instructor's own evaluation data (`private`) and image folders read into arrays (`image_folder`)."""
